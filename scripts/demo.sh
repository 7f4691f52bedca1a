#!/usr/bin/env bash
# jetrun quickstart, run by `make demo` after `make build`.
#
# Builds a tiny image locally FROM scratch (no registry), starts one worker
# with its embedded NATS JetStream server on a free loopback port and a
# temporary data directory, submits tasks that show live output, stdin, a
# non-zero exit, a timeout and two ways to cancel, prints their results, and
# stops everything it started, whatever happens (trap on EXIT).
#
# Needs: Go (to build) and a running Docker daemon. Nothing is pulled.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
GO=${GO:-go}
SUBMIT=$BIN/submit
WORKER=$BIN/worker

if [[ -t 1 ]]; then bold=$'\033[1m' dim=$'\033[2m' reset=$'\033[0m'; else bold='' dim='' reset=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
# show prints a command the way a user would type it.
show() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; }
# quote prints its arguments quoted for a shell, only where needed.
quote() {
	local out=() a
	for a in "$@"; do
		if [[ $a =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
	done
	printf '%s' "${out[*]}"
}

for b in "$SUBMIT" "$WORKER"; do
	[[ -x $b ]] || { echo "demo: $b is missing: run 'make build' first (make demo does)" >&2; exit 1; }
done

workdir=$(mktemp -d "${TMPDIR:-/tmp}/jetrun-demo.XXXXXX")
worker_pid=""
worker_id="demo-$$"

stop_worker() {
	[[ -n $worker_pid ]] || return 0
	if kill -0 "$worker_pid" 2>/dev/null; then
		kill -TERM "$worker_pid" 2>/dev/null || true
		# The worker drains: bounded by its --drain-timeout, then killed.
		for _ in $(seq 1 300); do
			kill -0 "$worker_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$worker_pid" 2>/dev/null; then
			echo "demo: worker did not stop in 30s; killing it" >&2
			kill -KILL "$worker_pid" 2>/dev/null || true
		fi
	fi
	wait "$worker_pid" 2>/dev/null || true
	worker_pid=""
}

cleanup() {
	local code=$?
	trap - EXIT INT TERM
	stop_worker
	if [[ $code -eq 130 || $code -eq 143 ]]; then
		echo "demo: interrupted; the worker it started is stopped" >&2
	elif [[ $code -ne 0 && -s $workdir/worker.log ]]; then
		echo "demo: failed (exit $code); worker log:" >&2
		sed 's/^/  worker| /' "$workdir/worker.log" >&2
	fi
	rm -rf "$workdir"
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "Building the helper and the demo image (FROM scratch, built locally: nothing is pulled)"
CGO_ENABLED=0 "$GO" build -o "$workdir/demotool" ./scripts/demotool
image=$("$workdir/demotool" image)
echo "image: $image (also tagged jetrun-demo:latest)"

step "Starting a worker with its embedded NATS JetStream server"
port=$("$workdir/demotool" free-port)
export JETRUN_NATS_URL="nats://127.0.0.1:$port"
show "$WORKER --embedded-listen 127.0.0.1:$port --data-dir $workdir/data --worker-id $worker_id --concurrency 2 --metrics-addr '' &"
# A clean environment for the worker: no JETRUN_* settings from the caller.
# Its own process group (set -m): Ctrl-C in the terminal reaches this script
# and submit, and the cleanup stops the worker, once, with SIGTERM.
set -m
env -u JETRUN_NATS_URL "$WORKER" --embedded-listen "127.0.0.1:$port" --data-dir "$workdir/data" \
	--worker-id "$worker_id" --concurrency 2 --metrics-addr "" --drain-timeout 10s --log-level warn \
	>"$workdir/worker.log" 2>&1 &
worker_pid=$!
set +m
"$workdir/demotool" wait-ready "$JETRUN_NATS_URL"
echo "worker $worker_id ready; submit talks to it through JETRUN_NATS_URL=$JETRUN_NATS_URL"

# run_task NAME EXPECTED_EXIT -- submit arguments...: runs submit, prints its
# exit code, and records it for the summary.
results=()
run_task() {
	local name=$1 want=$2
	shift 3
	show "submit $(quote "$@")"
	local code=0
	"$SUBMIT" "$@" || code=$?
	echo "${dim}-> exit code $code${reset}"
	results+=("$(printf '%-24s exit %-4s (expected %s)' "$name" "$code" "$want")")
	[[ $code -eq $want ]] || { echo "demo: $name exited $code, expected $want" >&2; exit 1; }
}

step "1. Success, with output streamed live (the second line comes a second later)"
run_task "live output" 0 -- run --verbose --id demo-live "$image" -- \
	echo "hello from a container" ";" sleep 1s ";" echoerr "(this line is on stderr)" ";" echo "one second later: bye"

step "2. stdin: submit's own stdin becomes the task's input (-i)"
show "printf 'apples\\npears\\n' | submit run -i --id demo-stdin $image -- cat"
code=0
printf 'apples\npears\n' | "$SUBMIT" run -i --id demo-stdin "$image" -- cat || code=$?
echo "${dim}-> exit code $code${reset}"
results+=("$(printf '%-24s exit %-4s (expected %s)' "stdin" "$code" 0)")
[[ $code -eq 0 ]] || exit 1

step "3. A non-zero exit: submit exits with the container's exit code"
run_task "non-zero exit" 3 -- run --id demo-exit3 "$image" -- echoerr "something went wrong" ";" exit 3

step "4. A timeout: the container is stopped, submit exits 124"
run_task "timeout" 124 -- run --timeout 2s --id demo-timeout "$image" -- echo "working on it..." ";" sleep 1h

step "5. Ctrl-C: submit cancels the task, waits for it to stop and exits 130"
show "submit run --id demo-interrupt $image -- echo 'started, now sleeping' ';' sleep 1h    # then Ctrl-C"
"$SUBMIT" run --id demo-interrupt "$image" -- echo "started, now sleeping" ";" sleep 1h &
submit_pid=$!
# Wait (at most 60s) until its output is there, then press "Ctrl-C".
for _ in $(seq 1 600); do
	[[ $("$SUBMIT" logs demo-interrupt 2>/dev/null) == "started, now sleeping" ]] && break
	sleep 0.1
done
echo "${dim}(sending SIGINT to submit, as Ctrl-C does)${reset}"
kill -INT "$submit_pid"
code=0
wait "$submit_pid" || code=$?
echo "${dim}-> exit code $code${reset}"
results+=("$(printf '%-24s exit %-4s (expected %s)' "Ctrl-C" "$code" 130)")
[[ $code -eq 130 ]] || { echo "demo: Ctrl-C gave exit $code, expected 130" >&2; exit 1; }

step "6. Detached: submit prints the id; cancel, logs and status work by id, after the fact"
show "id=\$(submit run --detach --id demo-detached $image -- echo 'in the background' ';' sleep 1h)"
id=$("$SUBMIT" run --detach --id demo-detached "$image" -- echo "in the background" ";" sleep 1h)
echo "$id"
for _ in $(seq 1 600); do
	[[ $("$SUBMIT" logs "$id" 2>/dev/null) == "in the background" ]] && break
	sleep 0.1
done
show "submit cancel --reason 'no longer needed' $id"
"$SUBMIT" cancel --reason "no longer needed" "$id"
show "submit logs -f $id        # replays the output, returns when the task has finished"
"$SUBMIT" logs -f "$id"
show "submit status $id"
"$SUBMIT" status "$id"

step "Results"
printf '  %s\n' "${results[@]}"
echo
for id in demo-live demo-stdin demo-exit3 demo-timeout demo-interrupt demo-detached; do
	"$SUBMIT" status --json "$id" | awk -v id="$id" '
		/"status":/   { gsub(/[",]/, "", $2); status = $2 }
		/"exit_code":/ { gsub(/,/, "", $2); code = $2 }
		/"error":/    { sub(/^ *"error": "/, ""); sub(/",?$/, ""); err = $0 }
		END { printf "  %-16s %-10s exit_code %-4s %s\n", id, status, code, err }'
done

step "Stopping the worker"
stop_worker
left=$("$workdir/demotool" containers "$worker_id")
echo "worker stopped; containers left behind: $left"
[[ $left -eq 0 ]] || exit 1
echo
echo "Done. Next: docs/submit.md (every submit flag), docs/worker.md, README.md (nats.conf, compose, scaling out)."
