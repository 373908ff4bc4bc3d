#!/usr/bin/env bash
# man_pages.sh — the man pages (man/*.8) say what the programs do, so they cannot drift:
# every option and variable `tabbyctl --help`, `tabby-node --help` and `tabby-node
# install-cni --help` print is an entry of the page, and every entry of the page is one
# they print; every configuration key the plugins' pages list is one the plugins read (a
# string in cni/*.c), and every key of the examples' conflists and of Calico's keys the
# plugin refuses or ignores is in the page; the unit's environment file sets nothing
# tabby-node does not read. The pages render without a groff warning.
set -u
. "$(dirname "$0")/lib.sh"
t_begin man_pages
M=$T_TOP/man
TABBY_NODE=$T_BUILD/tabby-node

# A page's entries: the tag line after each .TP or .TQ (of one section when named),
# without roff's escapes.
tags() {
    awk -v want="${2:-}" '
        /^\.SH/ { sect = $0; sub(/^\.SH +"?/, "", sect); sub(/"$/, "", sect) }
        next_is_tag { if (want == "" || sect == want) print; next_is_tag = 0; next }
        /^\.T[PQ]/ { next_is_tag = 1 }' "$1" |
        sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(dq/"/g' -e 's/^\.[A-Z]* *//'
}
# Options in text: -x and --long, where a word starts.
options() { grep -oE -- '(^|[] [|"])--?[A-Za-z][A-Za-z0-9-]*' | sed 's/^[] [|"]//' | sort -u; }
# $VARIABLES in text.
variables() { grep -oE '\$[A-Z][A-Z0-9_]*' | tr -d '$' | sort -u; }
# Two sorted lists, the same; else the difference says which side lacks what.
same() { # NAME HELP-LIST MAN-LIST
    local only_help only_man
    only_help=$(comm -23 <(echo "$2") <(echo "$3") | tr '\n' ' ')
    only_man=$(comm -13 <(echo "$2") <(echo "$3") | tr '\n' ' ')
    if [ -z "$2" ]; then
        fail "$1" "nothing found in the help"
    elif [ -z "$only_help$only_man" ]; then
        pass "$1"
    else
        fail "$1" "in the help only: [${only_help% }] in the page only: [${only_man% }]"
    fi
}

if [ ! -x "$TABBYCTL" ] || [ ! -x "$TABBY_NODE" ]; then
    skip man_pages "tabbyctl and tabby-node are not built here ($T_BUILD)"
    t_end
fi

same tabbyctl_options_match_help "$("$TABBYCTL" --help | options)" \
    "$(tags "$M/tabbyctl.8" | options)"
same tabby_node_options_match_help "$("$TABBY_NODE" --help | options)" \
    "$(tags "$M/tabby-node.8" | options)"
# Each setting's variable: on the help's lines of flags, in the page's OPTIONS entries.
same tabby_node_variables_match_help "$("$TABBY_NODE" --help | grep -E '^  --' | variables)" \
    "$(tags "$M/tabby-node.8" OPTIONS | variables)"
same install_cni_variables_match_help \
    "$("$TABBY_NODE" install-cni --help | sed -n 's/^  \([A-Z][A-Z0-9_]*\) .*/\1/p' | sort -u)" \
    "$(tags "$M/tabby-node.8" INSTALL-CNI | tr -d ' ' | sort -u)"

# The unit's environment file sets only what tabby-node reads: its settings, or what its
# page names besides (etcd's variables, TABBY_NODE_ARGS).
unknown=
for name in $(sed -n 's/^#\{0,1\}\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$T_TOP/dist/tabby-node.default"); do
    "$TABBY_NODE" --help | grep -q "\$$name\b" ||
        sed 's/\\f[BIRP]//g' "$M/tabby-node.8" | grep -qw "$name" || unknown="$unknown $name"
done
if [ -z "$unknown" ]; then
    pass environment_file_sets_known_settings
else
    fail environment_file_sets_known_settings "neither in --help nor in the page:$unknown"
fi

# The plugins' pages: each key they list is read by the plugins.
for page in tabby tabby-ipam; do
    missing=
    for key in $(tags "$M/$page.8" CONFIGURATION | awk '{ print $1 }'); do
        grep -qE "\"$key[\".]" "$T_TOP"/cni/*.c || missing="$missing $key"
    done
    if [ -z "$missing" ]; then
        pass "${page}_page_keys_are_read_by_the_plugin"
    else
        fail "${page}_page_keys_are_read_by_the_plugin" "not in cni/*.c:$missing"
    fi
done
# ... and every key a configuration of the examples gives is in its plugin's page, as
# is every key of Calico's the plugin refuses or ignores (cni_conf.c, cni_datastore.c).
text() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(dq/"/g' "$1"; }
conf_keys=$(jq -r '.plugins[]? // . | select(.type == "tabby") | keys[]' \
    "$T_TOP"/examples/*.conflist 2>/dev/null | sort -u)
ipam_keys=$(jq -r '.plugins[]? // . | select(.type == "tabby") | .ipam // {} | keys[]' \
    "$T_TOP"/examples/*.conflist 2>/dev/null | sort -u)
calico_keys=$(sed -n 's/^ *{ "\([A-Za-z_.]*\)", KEY_[A-Z]*.*/\1/p' "$T_TOP/cni/cni_conf.c")
calico_keys="$calico_keys $(sed -n '/api_overrides\[\]/,/};/p' "$T_TOP/cni/cni_datastore.c" |
    grep -oE '"[a-z_.0-9]+"' | tr -d '"')"
if ! command -v jq >/dev/null; then
    skip plugin_pages_hold_every_key "jq is not installed"
elif [ -z "$conf_keys" ] || [ -z "$ipam_keys" ] || [ -z "${calico_keys// }" ]; then
    fail plugin_pages_hold_every_key "found no keys to look for (examples/*.conflist, cni/)"
else
    missing=
    for key in $conf_keys $calico_keys; do
        [ "$key" = type ] || [ "$key" = ipam ] && continue
        text "$M/tabby.8" | grep -qw -- "${key##*.}" || missing="$missing tabby:$key"
    done
    for key in $ipam_keys; do
        [ "$key" = type ] && continue
        text "$M/tabby-ipam.8" | grep -qw -- "$key" || missing="$missing tabby-ipam:$key"
    done
    if [ -z "$missing" ]; then
        pass plugin_pages_hold_every_key
    else
        fail plugin_pages_hold_every_key "not in the page:$missing"
    fi
fi

if ! command -v groff >/dev/null; then
    skip pages_render_cleanly "groff is not installed"
else
    out=
    for page in "$M"/*.8; do
        out="$out$(groff -man -ww -z "$page" 2>&1)"
    done
    if [ -z "$out" ]; then pass pages_render_cleanly; else fail pages_render_cleanly "$out"; fi
fi
t_end
