#!/usr/bin/env python3
"""Rules of docs/architecture.md the compiler does not check:

  function-length  no function of src/ or preprocess/ longer than 80 lines (a definition that starts at column 0, from
                   its signature to its closing brace at column 0; the code is not indented inside
                   namespaces, and member functions defined inside a class are one-liners)
  error-kinds      nothing thrown but the error kinds of common/error.h: no std::runtime_error,
                   std::invalid_argument or std::logic_error thrown directly, no TORCH_CHECK
  clang-format     every C++ file of src/, tests/ and preprocess/ as clang-format formats it with
                   .clang-format (skipped, exit 77, without clang-format)

Prints each violation as file:line and exits 1 when there is one.
"""
import pathlib
import re
import shutil
import subprocess
import sys

MAX_LINES = 80
ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
LIBRARY = ("src", "preprocess")  # the library's code: src/, and the preprocess job beside its program


def sources():
    return sorted(p for d in LIBRARY for p in (ROOT / d).rglob("*") if p.suffix in (".h", ".cpp"))


def starts_definition(line):
    if not line or line[0].isspace() or line.startswith(("//", "#", "}", "namespace", "using", "template", "extern")):
        return False
    if re.match(r"(struct|class|enum|union)\b", line) or "(" not in line:
        return False
    return not line.rstrip().endswith(("}", ";"))


def long_functions(path):
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        if starts_definition(lines[i]):
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith(("{", ";")):
                j += 1
            if j < len(lines) and lines[j].rstrip().endswith("{") and not lines[j].rstrip().endswith("= {"):
                k = j + 1
                while k < len(lines) and not lines[k].startswith("}"):
                    k += 1
                if k - i + 1 > MAX_LINES:
                    yield i + 1, k - i + 1, lines[i].strip()
                i = k
        i += 1


FOREIGN_THROW = re.compile(r"\bthrow\s+std::(runtime_error|invalid_argument|logic_error|out_of_range)\b|\bTORCH_CHECK\s*\(")


def unformatted():
    """The C++ files clang-format would change, with its first complaint."""
    root = SRC.parent
    files = sorted(p for d in ("src", "tests", "preprocess") for p in (root / d).rglob("*") if p.suffix in (".h", ".cpp"))
    for path in files:
        run = subprocess.run(["clang-format", "--dry-run", "--Werror", f"--style=file:{root / '.clang-format'}", str(path)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            first = next((line for line in run.stderr.splitlines() if "error" in line), run.stderr.strip())
            yield f"{path.relative_to(root)}: not as clang-format formats it (clang-format -i {path.relative_to(root)}): {first}"


def main():
    rule = sys.argv[1] if len(sys.argv) > 1 else ""
    problems = []
    if rule == "clang-format":
        if shutil.which("clang-format") is None:
            print("clang-format: not installed (bash launch/setup.sh installs it); skipped")
            return 77
        problems = list(unformatted())
        for p in problems:
            print(p)
        if not problems:
            print("clang-format: every C++ file follows .clang-format")
        return 1 if problems else 0
    for path in sources():
        name = path.relative_to(SRC.parent)
        if rule == "function-length":
            problems += [f"{name}:{line}: {n} lines (at most {MAX_LINES}): {sig}" for line, n, sig in long_functions(path)]
        elif rule == "error-kinds":
            for number, line in enumerate(path.read_text().split("\n"), 1):
                if FOREIGN_THROW.search(line):
                    problems.append(f"{name}:{number}: throws what common/error.h does not define: {line.strip()}")
        else:
            sys.exit("usage: check_code_rules.py function-length|error-kinds|clang-format")
    for p in problems:
        print(p)
    if not problems:
        print(f"{rule}: every source file of src/ and preprocess/ keeps the rule")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
