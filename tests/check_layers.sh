#!/usr/bin/env bash
# The dependency rule between src/ folders (docs/architecture.md): each folder's library sources
# include only the folders listed for it. Programs (*/main.cpp) and bench/ may use anything.
# Also: no MPI or HDF5 in model/, no LibTorch in the plain folders.
set -euo pipefail
cd "$(dirname "$0")/../src"
declare -A allowed=(
  [common]=""
  [midi]="common"
  [data]="common midi"
  [preprocess]="common midi data"
  [model]="common"
  [run_folder]="common"
  [inference]="common midi data model run_folder"
  [dataset]="common data model"
  [cli]="common model"
  [comm]="common"
  [evaluate]="common model"
  [generate]="common midi data model dataset run_folder inference"
  [train]="common data model dataset comm evaluate cli run_folder"
  [magenta]="common data model run_folder"
)
status=0
for folder in "${!allowed[@]}"; do
  for file in "$folder"/*.h "$folder"/*.cpp; do
    [ -e "$file" ] || continue
    [ "$(basename "$file")" = main.cpp ] && continue
    for dep in $(grep -ho '^#include "[a-z_]*/' "$file" | sed 's/#include "//; s/\///' | sort -u); do
      [ "$dep" = "$folder" ] && continue
      if [[ " ${allowed[$folder]} " != *" $dep "* ]]; then
        echo "layering: $file includes $dep/ (allowed for $folder/: ${allowed[$folder]:-nothing})"
        status=1
      fi
    done
  done
done
if grep -l -E '#include [<"](mpi|hdf5|H5[A-Za-z]*)\.h' model/* >/dev/null 2>&1; then
  echo "layering: model/ includes MPI or HDF5: $(grep -l -E '#include [<"](mpi|hdf5|H5[A-Za-z]*)\.h' model/*)"
  status=1
fi
if grep -l '#include <torch/' common/* midi/* data/* preprocess/* magenta/tf_checkpoint.* 2>/dev/null; then
  echo "layering: LibTorch included in a plain folder (above)"
  status=1
fi
[ $status -eq 0 ] && echo "layering: every folder includes only what docs/architecture.md allows"
exit $status
