# Sourced by the end-to-end checks: starts the model downloader demo with its
# endpoint on a free loopback port, and stops it again.
#   start_demo WORKDIR LINGER_SECS  -> sets DEMO_ADDR (host:port) and DEMO_PID
#   stop_demo
# Needs target/debug/examples/model_downloader (cargo build --example model_downloader).

DEMO_PID=""
DEMO_ADDR=""

start_demo() {
  local work=$1 linger=$2
  local bin="${CARGO_TARGET_DIR:-target}/debug/examples/model_downloader"
  [ -x "$bin" ] || { echo "missing $bin: cargo build --example model_downloader" >&2; return 1; }
  "$bin" --serve 127.0.0.1:0 --linger "$linger" --monitor \
    --report "$work/report.json" >"$work/demo.log" 2>&1 &
  DEMO_PID=$!
  # The demo prints its address first, and "finished in" once its run is over:
  # wait for both (bounded), so what is checked no longer moves.
  local deadline=$((SECONDS + 60))
  until grep -q '^finished in' "$work/demo.log"; do
    if ! kill -0 "$DEMO_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "the demo did not finish its run:" >&2
      cat "$work/demo.log" >&2
      return 1
    fi
    sleep 0.2
  done
  DEMO_ADDR=$(grep -o 'serving http://[0-9.]*:[0-9]*' "$work/demo.log" | head -1 | sed 's|serving http://||')
  [ -n "$DEMO_ADDR" ] || { echo "the demo printed no address" >&2; return 1; }
  echo "demo (pid $DEMO_PID) serving on $DEMO_ADDR"
}

stop_demo() {
  if [ -n "$DEMO_PID" ]; then
    kill "$DEMO_PID" 2>/dev/null || true
    wait "$DEMO_PID" 2>/dev/null || true
    DEMO_PID=""
  fi
}
