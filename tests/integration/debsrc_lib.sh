# debsrc_lib.sh — Debian source packages for tests that build or read what Debian ships
# only as source (cnitool, the CRI's proto). The source comes through a private apt
# configuration naming the machine's own Debian mirror as a deb-src; nothing of the
# machine's apt setup changes. Source it.
#
#   deb_source PACKAGE DIR   downloads PACKAGE's source package into DIR/src (apt's lists
#                            and cache under DIR/apt, its log DIR/apt.log); fails with $WHY

# The machine's Debian mirror and release, from its apt sources (deb822 or one-line).
deb_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && awk '
            /^$/ { if (deb && uri ~ /debian\/?$/) { print uri, suite; exit } deb = 0; uri = "" }
            /^Types:/ && / deb( |$)/ { deb = 1 }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { suite = $2 }
            END { if (deb && uri ~ /debian\/?$/) print uri, suite }' "$f"
    done | head -1
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*debian\/\{0,1\}\) \([^ ]*\) .*/\2 \3/p' | head -1
}

deb_source() {
    local package=$1 dir=$2 mirror suite apt keyring=
    read -r mirror suite <<<"$(deb_mirror | head -1)"
    [ -n "$mirror" ] || { WHY="no Debian mirror in the apt sources"; return 1; }
    mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/src"
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
        keyring="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    echo "deb-src $keyring$mirror $suite main" >"$dir/apt/sources.list"
    apt=(apt-get -q -o "Dir::Etc::SourceList=$dir/apt/sources.list"
        -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$dir/apt/lists"
        -o "Dir::Cache=$dir/apt/cache")
    if ! "${apt[@]}" update >"$dir/apt.log" 2>&1 ||
        ! (cd "$dir/src" && "${apt[@]}" source --download-only "$package" \
            >>"$dir/apt.log" 2>&1); then
        WHY="cannot download the source package $package from $mirror: $(tail -1 "$dir/apt.log")"
        return 1
    fi
}
