#!/bin/sh
# install-ckpt-layer.sh VENV PINS CHECK: a consumer venv layered over the
# first one (tools/install-ckpt-consumers.sh, installed first): VENV's
# site-packages gets a .pth naming the first venv's, so its torch and the
# rest come from there, and PINS are installed on top with --no-deps (the
# venv's own site-packages come first on sys.path); CHECK, Python code,
# must then run.  Skipped when VENV's stamp says PINS over that base
# already.  Prints VENV's python on the last line.  Used by
# tools/install-ckpt-consumers-2025.sh and -2026.sh.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv=$1
pins=$2
check=$3
base_py=$("$here/install-ckpt-consumers.sh" | tail -n 1)
base=$("$base_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
stamp="$venv/.turboquant-pins"

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$pins over $base" ]; then
	echo "install-ckpt-layer: setting up $venv over $base" >&2
	[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
	own=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
	echo "$base" >"$own/zz_turboquant_ckpt_venv.pth"
	# shellcheck disable=SC2086
	"$venv/bin/pip" install -q --no-deps $pins >&2
	"$venv/bin/python" -c "$check" >&2
	echo "$pins over $base" >"$stamp"
fi
echo "$venv/bin/python"
