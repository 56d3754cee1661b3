#!/usr/bin/env bash
# Remove the untagged images SAM leaves behind on top of the local Lambda base image built by
# build-sam-image.sh. With local layers SAM rebuilds its derived image (base + emulator + layers,
# ~200 MB) on every `sam local invoke`, re-tagging the new one and leaving the old one dangling.
# Only dangling images whose parent chain ends at an image of ours (its comment) are removed;
# images in use by a container are kept (docker refuses).
set -uo pipefail
DOCKER=${DOCKER:-/usr/bin/docker}
MARK="deepfake-detector sam-local python3.11"
derived=() roots=()
for id in $("$DOCKER" images -q --no-trunc --filter dangling=true); do
    cur=$id
    for _ in $(seq 50); do
        info=$("$DOCKER" image inspect -f '{{.Parent}}|{{.Comment}}' "$cur" 2>/dev/null) || break
        parent=${info%%|*} comment=${info#*|}
        if [ -z "$parent" ]; then
            if [[ $comment == "$MARK"* ]]; then
                if [ "$cur" = "$id" ]; then roots+=("$id"); else derived+=("$id"); fi
            fi
            break
        fi
        cur=$parent
    done
done
removed=0
for id in "${derived[@]}" "${roots[@]}"; do
    "$DOCKER" rmi "$id" >/dev/null 2>&1 && removed=$((removed + 1))
done
echo "sam-prune-images: removed $removed stale image(s) built on the local Lambda base"
