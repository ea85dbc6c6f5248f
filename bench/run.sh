#!/bin/sh
# Run the whole benchmark and fault harness (about 15 minutes), as root,
# from anywhere inside the module: results go to docs/bench-results/.
#   sudo bench/run.sh                 # everything
#   sudo bench/run.sh -flood -latency # some scenarios; -h lists the options
set -eu
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ]; then
	set -- -all
fi
exec go run ./bench/cmd/knockbench "$@"
