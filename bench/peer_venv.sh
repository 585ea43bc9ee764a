# peer_venv.sh: what bench/install-gptq-peer.sh and bench/install-autoround.sh
# share, sourced by both: the torch stack both peers were checked with, and
# the venv setup.  torch from PyPI brings its CUDA libraries, unused here
# (the CPU-only index, download.pytorch.org, is not reachable from every
# machine; PyPI is).

TORCH_VERSION=2.15.0
TRANSFORMERS_VERSION=5.25.0
ACCELERATE_VERSION=1.16.0
TOKENIZERS_VERSION=0.23.3
SAFETENSORS_VERSION=0.8.0
NUMPY_VERSION=2.4.6

# peer_venv_install NAME VENV WHAT PACKAGE...: unless `installed` (the
# caller's check) succeeds, makes VENV and pip-installs PACKAGE... with the
# torch stack above, then checks again; NAME prefixes the messages, WHAT
# says what the venv failed to import.
peer_venv_install() {
	name=$1 venv=$2 what=$3
	shift 3
	installed >/dev/null 2>&1 && return 0
	echo "$name: setting up $venv" >&2
	[ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2
	"$venv/bin/pip" install -q "$@" \
	    "torch==$TORCH_VERSION" "transformers==$TRANSFORMERS_VERSION" \
	    "accelerate==$ACCELERATE_VERSION" "tokenizers==$TOKENIZERS_VERSION" \
	    "safetensors==$SAFETENSORS_VERSION" "numpy==$NUMPY_VERSION" >&2
	if ! installed >&2; then
		echo "$name: $venv does not import $what with torch $TORCH_VERSION" >&2
		exit 1
	fi
}
