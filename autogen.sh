#!/bin/sh
# autogen.sh: generate configure and the Makefile templates (autoreconf).
set -e
cd "$(dirname "$0")"
exec autoreconf -fi "$@"
