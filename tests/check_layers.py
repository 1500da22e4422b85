#!/usr/bin/env python3
"""The dependency rule of docs/architecture.md, checked on every test run.

Each folder's library sources include only the project folders and the outside libraries of its
row below; programs (*/main.cpp) and bench/ may include anything. Also: the project's headers are
included in quotes ("model/config.h"), never in angle brackets, so a project include cannot slip
past the rule; model/ never reaches HDF5 through a data/ header; no LibTorch in the plain folders.

Prints each violation as file:line and exits 1 when there is one.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# folder -> (project folders it may include, outside libraries it may include)
RULE = {
    "common": ("", "boost zlib"),  # Boost.CRC (CRC-32), Boost.Program_options' error (run_program.h)
    "midi": ("common", ""),
    "data": ("common midi", "hdf5 libzip json"),
    "preprocess": ("common midi data", "json"),  # the root folder: the preprocess program and its job
    "model": ("common data", "torch json"),
    "run_folder": ("common", "json"),
    "tensor_file": ("common", "json"),
    "model_file": ("common data model tensor_file", "torch zlib"),
    "pictures": ("common data", "json"),
    "inference": ("common midi data model model_file run_folder", "torch"),
    "cli": ("common model", "boost"),
    "comm": ("common", "torch mpi nccl cuda"),
    "evaluate": ("common data model", "torch json"),
    "generate": ("common midi data model model_file pictures run_folder inference", "torch json"),
    "train": ("common data model model_file tensor_file comm evaluate cli run_folder", "torch json boost"),  # boost: train_options
    "magenta": ("common data model model_file run_folder", "torch json leveldb"),
}
# Outside libraries by how their headers are named.
LIBRARIES = {
    "boost": r"boost/",
    "zlib": r"zlib\.h",
    "hdf5": r"(hdf5|H5[A-Za-z]*)\.h",
    "libzip": r"zip\.h",
    "json": r"nlohmann/",
    "torch": r"(torch|ATen|c10)/",
    "mpi": r"mpi\.h",
    "nccl": r"nccl\.h",
    "cuda": r"cuda[a-z_]*\.h",
    "leveldb": r"leveldb/",
}
PLAIN = ["common", "midi", "data", "preprocess", "pictures", "run_folder", "tensor_file"]  # no LibTorch (also magenta/tf_checkpoint.*)
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def folder_of(name):
    return ROOT / ("preprocess" if name == "preprocess" else f"src/{name}")


def library_of(header):
    for library, pattern in LIBRARIES.items():
        if re.match(pattern, header):
            return library
    return None  # the C++ and C standard libraries, POSIX


def check_file(path, folder, problems):
    project_folders = {p.name for p in (ROOT / "src").iterdir() if p.is_dir()} | {"preprocess"}
    allowed_folders, allowed_libraries = (set(x.split()) for x in RULE[folder])
    is_program = path.name == "main.cpp"
    plain = folder in PLAIN or path.stem == "tf_checkpoint"
    for number, line in enumerate(path.read_text().split("\n"), 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        bracket, header = m.groups()
        where = f"{path.relative_to(ROOT)}:{number}"
        top = header.split("/")[0] if "/" in header else None
        if bracket == "<" and top in project_folders:
            problems.append(f'{where}: the project header <{header}> in angle brackets: write "{header}"')
        library = library_of(header)
        if library == "torch" and plain:
            problems.append(f"{where}: LibTorch in a plain folder ({folder}/)")
        if folder == "model" and header == "data/hdf5_util.h":
            problems.append(f"{where}: model/ reaches HDF5 through {header}")
        if is_program:
            continue
        if top in project_folders and top != folder and top not in allowed_folders:
            problems.append(f"{where}: {folder}/ includes {top}/ (allowed: {' '.join(sorted(allowed_folders)) or 'nothing'})")
        if library is not None and library not in allowed_libraries:
            problems.append(f"{where}: {folder}/ includes {library} (<{header}>; allowed: {' '.join(sorted(allowed_libraries)) or 'none'})")


def main():
    problems = []
    folders = {p.name for p in (ROOT / "src").iterdir() if p.is_dir()} - {"bench"}
    for missing in sorted(folders - set(RULE)):
        problems.append(f"src/{missing}/: a folder the rule does not list (add its row here and in docs/architecture.md)")
    for folder in RULE:
        for path in sorted(folder_of(folder).glob("*")):
            if path.suffix in (".h", ".cpp"):
                check_file(path, folder, problems)
    # A data/ header that model/ may include must not bring HDF5 with it.
    for path in sorted((ROOT / "src/data").glob("*.h")):
        if path.name != "hdf5_util.h" and re.search(r'#include [<"](hdf5|H5[A-Za-z]*)\.h', path.read_text()):
            problems.append(f"{path.relative_to(ROOT)}: HDF5 in a data/ header (only hdf5_util.h may have it)")
    for p in problems:
        print("layering:", p)
    if not problems:
        print("layering: every folder includes only what docs/architecture.md allows")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
