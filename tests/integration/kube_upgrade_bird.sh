#!/usr/bin/env bash
# kube_upgrade_bird.sh — kube_upgrade.sh's rolling upgrade and removal on the BIRD backend
# (BGP mesh between the two nodes, BIRD in tabby-node's pod, a pool without encapsulation).
KU_BACKEND=bird exec bash "$(dirname "$0")/kube_upgrade.sh"
