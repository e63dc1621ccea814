#!/bin/sh
# Renders the icon artwork in images/src/*.svg to the PNGs the extension ships. The PNGs are
# committed, so building, testing and packaging never need a renderer: run this only after
# editing the artwork, then look at the results and commit both.
#   Needs rsvg-convert (Debian/Ubuntu: apt-get install librsvg2-bin; macOS: brew install librsvg).
set -eu
cd "$(dirname "$0")/.."

if ! command -v rsvg-convert >/dev/null 2>&1; then
  echo "render-icons: rsvg-convert is missing. Install it with: apt-get install -y librsvg2-bin" >&2
  exit 1
fi

# render SOURCE SIZE DESTINATION
render() {
  rsvg-convert --width "$2" --height "$2" --keep-aspect-ratio --format png --output "$3" "$1"
  echo "render-icons: $1 -> $3 (${2}x$2)"
}

render images/src/extension-icon.svg 128 images/extension-icon.png
render images/src/fetch-latest-model-icon.svg 32 tasks/FetchLatestModelV1/icon.png
render images/src/bake-model-into-image-icon.svg 32 tasks/BakeModelIntoImageV1/icon.png
render images/src/deploy-ai-app-to-aks-icon.svg 32 tasks/DeployAiAppToAksV1/icon.png
