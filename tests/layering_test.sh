#!/usr/bin/env bash
# The dependency rules of README "Layout", checked on the sources' #include lines:
#   format/           includes format/ only (and the C/C++ library, zstd)
#   codec/decoder/    format/, codec/decoder/; never LibTorch
#   codec/encoder/    format/, codec/decoder/, codec/encoder/ (plugin_api.h, plugin.cc also name
#                     codec/applications/, the other half of the plugin's table)
#   codec/applications/  format/, codec/decoder/, codec/encoder/, codec/applications/
#   torch-free files  options.h, presets.*, quantize.*, interpolate.*, everything in tools/
# Usage: layering_test.sh SOURCE_DIR
set -uo pipefail
cd "$1"
fail=0
bad() { echo "layering: $*"; fail=1; }
# "file: included-path" for every project or LibTorch include in the C/C++ sources under a folder
# (a patch or a document that quotes an include line is not a source).
includes() {
  grep -rHoE --include='*.c' --include='*.cc' --include='*.h' --include='*.hpp' --include='*.inc' \
    '#include [<"](codec|format|tools|include|torch|ATen|c10)/[^">]*' "$@" \
    | sed -E 's/#include [<"]//'
}
check() {  # check FOLDER ALLOWED_REGEX
  local folder=$1 allowed=$2 line
  while IFS= read -r line; do
    [[ ${line#*:} =~ ^($allowed) ]] || bad "$line (not allowed in $folder)"
  done < <(includes "$folder")
}
check format 'format/'
check codec/decoder 'format/|codec/decoder/|include/nifc/'
check codec/applications 'format/|codec/decoder/|codec/encoder/|codec/applications/|torch/|ATen/|c10/'
while IFS= read -r line; do
  file=${line%%:*} inc=${line#*:}
  [[ $inc =~ ^(format/|codec/decoder/|codec/encoder/|torch/|ATen/|c10/) ]] && continue
  [[ $inc == codec/applications/applications.h && $file =~ ^codec/encoder/plugin(_api.h|.cc)$ ]] && continue
  bad "$line (not allowed in codec/encoder)"
done < <(includes codec/encoder)
# Torch-free files: nothing of LibTorch, directly or through a torch header of the encoder.
for f in codec/encoder/options.h codec/encoder/presets.h codec/encoder/presets.cc \
         codec/encoder/quantize.h codec/encoder/quantize.cc codec/encoder/plugin_api.h \
         codec/encoder/encoder.h codec/applications/applications.h \
         codec/applications/interpolate.h codec/applications/interpolate.cc; do
  grep -HE '#include [<"](torch|ATen|c10)/|#include "codec/encoder/(fit|torch_net)\.h"' "$f" \
    && bad "$f must not include LibTorch"
done
while IFS= read -r line; do
  bad "$line (tools/ never includes LibTorch)"
done < <(includes tools | grep -E ':(torch|ATen|c10)/|codec/encoder/(fit|torch_net)\.h')
if ((fail)); then
  echo "layering: 0 passed, 1 failed"
  exit 1
fi
echo "layering: 1 passed, 0 failed"
