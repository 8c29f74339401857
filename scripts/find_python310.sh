#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter, or fail with a clear message.
# Rasa 3.6 (the last open-source Rasa) supports Python 3.8-3.10 only.
set -euo pipefail
is310() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; }
candidates=()
[ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
if [ -d "$pyenv_root/versions" ]; then
  for d in $(ls -d "$pyenv_root"/versions/3.10* 2>/dev/null | sort -V -r); do candidates+=("$d/bin/python3.10" "$d/bin/python"); done
fi
candidates+=(/usr/bin/python3.10 /usr/local/bin/python3.10)
for c in "${candidates[@]}"; do
  # pyenv shims resolve by the local .python-version; ask for the real binary.
  if is310 "$c"; then "$c" -c 'import sys; print(sys.executable)'; exit 0; fi
done
cat >&2 <<MSG
error: no Python 3.10 found. Rasa 3.6.21 runs on Python 3.8-3.10 only.
  looked at: \$PYTHON310, python3.10 on PATH, $pyenv_root/versions/3.10*, /usr/bin/python3.10
  fix: 'pyenv install 3.10' (then run make again), or set PYTHON310=/path/to/python3.10
MSG
exit 1
