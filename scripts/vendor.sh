#!/usr/bin/env bash
# Vendor the third-party front-end assets into static/vendor/ from the npm registry.
#
# Usage: scripts/vendor.sh   (re-creates static/vendor/{bootstrap,chartjs,swagger-ui})
# To upgrade: change a version below, run the script, look at the pages, commit the diff.
# Only the files the app loads are kept, byte for byte as published, with each package's
# licence and a VERSION file; no source maps, so the whole folder stays well under 3 MB.
set -euo pipefail

BOOTSTRAP_VERSION=5.3.9
CHARTJS_VERSION=4.6.1
SWAGGER_UI_VERSION=5.35.0

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# fetch PACKAGE VERSION DEST: unpack the npm tarball and start an empty static/vendor/DEST.
fetch() {
    local package=$1 version=$2 dest=$3 tarball
    tarball="$(cd "$work" && npm pack --silent "$package@$version" | tail -n 1)"
    rm -rf "${work:?}/pkg" "${vendor:?}/$dest"
    mkdir -p "$work/pkg" "$vendor/$dest"
    tar -xzf "$work/$tarball" -C "$work/pkg" --strip-components=1
    printf '%s\n' "$version" >"$vendor/$dest/VERSION"
}

# copy SRC DEST: copy a file of the package last fetched to static/vendor/DEST.
copy() {
    install -D -m 0644 "$work/pkg/$1" "$vendor/$2"
}

fetch bootstrap "$BOOTSTRAP_VERSION" bootstrap
copy LICENSE bootstrap/LICENSE
copy dist/css/bootstrap.min.css bootstrap/css/bootstrap.min.css
copy dist/js/bootstrap.bundle.min.js bootstrap/js/bootstrap.bundle.min.js

fetch chart.js "$CHARTJS_VERSION" chartjs
copy LICENSE.md chartjs/LICENSE.md
copy dist/chart.umd.min.js chartjs/chart.umd.min.js

fetch swagger-ui-dist "$SWAGGER_UI_VERSION" swagger-ui
for file in LICENSE NOTICE swagger-ui.css swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt \
    swagger-ui-standalone-preset.js swagger-ui-standalone-preset.js.LICENSE.txt favicon-32x32.png; do
    copy "$file" "swagger-ui/$file"
done

if find "$vendor" -name '*.map' | grep -q .; then
    echo "vendor.sh: a source map slipped into $vendor" >&2
    exit 1
fi
du -sh "$vendor"
