#!/bin/sh
# Prepares the dashboard for serving: copies public/ to OUT and gives every
# asset under assets/ a content hash in its name (app.js -> app.<hash>.js),
# rewriting index.html to match. Hashed names can be cached by browsers for a
# year, and a new release still reaches them at once (index.html is never
# cached without revalidation). POSIX sh: runs in the busybox of the alpine
# nginx image, no Node.js toolchain needed for three files.
#
# usage: build-site.sh SRC OUT
set -eu

src=$1
out=$2

mkdir -p "$out"
cp -R "$src"/. "$out"/
cd "$out"

for asset in assets/*; do
    [ -f "$asset" ] || continue
    hash=$(sha256sum "$asset" | cut -c1-12)
    name=${asset%.*}
    ext=${asset##*.}
    hashed="$name.$hash.$ext"
    mv "$asset" "$hashed"
    # Only exact quoted references ("assets/app.js"), nothing that merely
    # starts with the same name.
    sed -i "s|\"$asset\"|\"$hashed\"|g" index.html
    grep -q "\"$hashed\"" index.html || {
        echo "build-site: index.html does not reference $asset" >&2
        exit 1
    }
done

# Every local file that index.html references must exist in the output.
grep -o -E '(href|src)="[^":]+"' index.html | sed -E 's/^[a-z]+="([^"]*)"$/\1/' | while read -r ref; do
    case $ref in
        \#*|api/*) continue ;;
    esac
    [ -f "$ref" ] || {
        echo "build-site: index.html references missing file $ref" >&2
        exit 1
    }
done

# World-readable, writable by nobody but the owner (root in the final image).
chmod -R u=rwX,go=rX .
