#!/usr/bin/env bash
# Make sure the system tools the workflow or its tests call are on PATH; install the missing
# ones from Debian/Ubuntu when we are root, else stop with one line naming the command to run.
#
#   bash scripts/ensure_tools.sh bgzip tabix             # run time (make install)
#   bash scripts/ensure_tools.sh plink2 bcftools bgzip tabix   # tests (make test)
#
# Tool -> Debian package: plink2 -> plink2, bcftools -> bcftools, bgzip/tabix -> tabix.
# ENSURE_TOOLS_APT (default apt-get) and ENSURE_TOOLS_UID (default `id -u`) exist for the
# tests of this script, which must never run apt-get for real.
set -euo pipefail

package_of() {
    case "$1" in
        bgzip|tabix) echo tabix ;;
        *) echo "$1" ;;
    esac
}

missing=()
packages=()
for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        missing+=("$tool")
        pkg=$(package_of "$tool")
        [[ " ${packages[*]-} " == *" $pkg "* ]] || packages+=("$pkg")
    fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

apt=${ENSURE_TOOLS_APT:-apt-get}
uid=${ENSURE_TOOLS_UID:-$(id -u)}
install="apt-get update -qq && apt-get install -y -qq --no-install-recommends ${packages[*]}"
if [ "$uid" = 0 ] && command -v "$apt" >/dev/null 2>&1; then
    echo "ensure_tools: ${missing[*]} not found; installing ${packages[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    "$apt" update -qq
    "$apt" install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    still=()
    for tool in "${missing[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || still+=("$tool")
    done
    if [ "${#still[@]}" -gt 0 ]; then
        echo "ensure_tools: ${still[*]} still not found after installing ${packages[*]}" >&2
        exit 1
    fi
    exit 0
fi
if [ "$uid" = 0 ]; then
    echo "ensure_tools: ${missing[*]} not found and apt-get is not available: install the packages ${packages[*]} (Debian names) with your system's package manager" >&2
else
    echo "ensure_tools: ${missing[*]} not found: run \`sudo sh -c '$install'\` (or install ${packages[*]} with your package manager)" >&2
fi
exit 1
