#!/bin/sh
# Renders the icon artwork in images/src/*.svg to the PNGs the extension ships, and the pipeline
# diagram that overview.md shows. The PNGs are committed, so building, testing and packaging never
# need a renderer: run this only after editing the artwork, then look at the results and commit both.
# (The classic designer pictures come from scripts/render-task-forms.mjs.)
#   Needs rsvg-convert and pngquant (Debian/Ubuntu: apt-get install librsvg2-bin pngquant;
#   macOS: brew install librsvg pngquant).
set -eu
cd "$(dirname "$0")/.."

if ! command -v rsvg-convert >/dev/null 2>&1; then
  echo "render-icons: rsvg-convert is missing. Install it with: apt-get install -y librsvg2-bin" >&2
  exit 1
fi
if ! command -v pngquant >/dev/null 2>&1; then
  echo "render-icons: pngquant is missing. Install it with: apt-get install -y pngquant" >&2
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

# render_wide SOURCE WIDTH DESTINATION: a picture for the docs, quantized to 256 colours (a third of
# the size, no visible difference). The diagram embeds the sibling *-icon.svg files.
render_wide() {
  rsvg-convert --width "$2" --keep-aspect-ratio --format png "$1" | pngquant --quality 80-100 --speed 1 --strip - >"$3"
  echo "render-icons: $1 -> $3 ($2 px wide)"
}

render_wide images/src/pipeline-diagram.svg 1000 images/pipeline-diagram.png
