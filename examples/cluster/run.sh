#!/usr/bin/env bash
# A mixed fleet on one machine: a nats-server with JetStream, moto as the S3 server and
# three corebuild workers on loopback sharing one job queue: two build amd64 installer
# ISOs, one builds Raspberry Pi images (arm64, rpi). Submits every job to one worker,
# shows each run on a worker that builds its kind, kills (-9) the worker running one of
# them and shows that job finish on the other amd64 worker as its next attempt.
#
# Needs: corebuild on PATH (or COREBUILD=path/to/corebuild), nats-server, moto_server,
# xorriso, openssl, curl, python3. Everything happens in a scratch folder that is
# removed at the end, with every process this script started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
builder="$here/../isocreator-xorriso"
corebuild=${COREBUILD:-corebuild}
for tool in "$corebuild" nats-server moto_server xorriso openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (see README.md, 'Run a fleet')" >&2; exit 1; }
done

scratch=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# Runs its arguments until they succeed, for at most $1 seconds; then names what it
# waited for, shows the workers' logs' ends and gives up (a wait never hangs).
within() {
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "gave up after ${limit} s waiting for $what" >&2
      tail -n 5 "$scratch"/*.log >&2 || true
      exit 1
    fi
    sleep 0.3
  done
}
# A job's state as a worker answers it ("" while it cannot say): `corebuild status`
# exits 1 for a failed job, which must not count as "no answer".
state_of() {
  { "$corebuild" status "$1" --json --url "http://127.0.0.1:$2" 2>/dev/null || true; } |
    python3 -c 'import json,sys
try: print(json.load(sys.stdin)["state"])
except Exception: print("")'
}
in_state() { # job, port, states...
  local state
  state=$(state_of "$1" "$2")
  shift 2
  [[ " $* " == *" $state "* ]]
}
answers() { "$corebuild" capabilities --url "http://127.0.0.1:$1" > /dev/null 2>&1; }
lists_pi_class() { "$corebuild" capabilities --url http://127.0.0.1:13061 | grep -q 'rpi/balena-raw'; }

nats_port=14222 s3_port=15000
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$scratch/nats" > "$scratch/nats.log" 2>&1 &
pids+=($!)
moto_server -H 127.0.0.1 -p "$s3_port" > "$scratch/moto.log" 2>&1 &
pids+=($!)
within 30 "moto_server" curl -s -o /dev/null "http://127.0.0.1:$s3_port"
# The bucket, made with a plain S3 call (moto takes any credentials).
curl -s -X PUT "http://127.0.0.1:$s3_port/artifacts" > /dev/null

# The same fleet key on every worker; a short ack wait so a lost worker shows quickly.
key=$(openssl rand -hex 32)
declare -A worker_pid
# What each worker builds: worker-3 is the fleet's Raspberry Pi host.
architectures=(x amd64 amd64 arm64,rpi)
kinds=(x ubuntu-iso ubuntu-iso balena-raw)
for i in 1 2 3; do
  COREBUILD_BIND=127.0.0.1 COREBUILD_PORT=1306$i COREBUILD_WORKER_ID=worker-$i \
  COREBUILD_ARCHITECTURES=${architectures[$i]} COREBUILD_IMAGE_KINDS=${kinds[$i]} \
  COREBUILD_WORKDIR="$scratch/work-$i" COREBUILD_MAX_CONCURRENCY=1 \
  COREBUILD_NATS_URL="nats://127.0.0.1:$nats_port" COREBUILD_CLUSTER_KEY="$key" \
  COREBUILD_NATS_ACK_WAIT_SECS=5 \
  ISO_CREATOR_COMMAND="sh -c 'sleep 6; exec \"\$0\" \"\$@\"' '$builder'" \
    "$corebuild" serve > "$scratch/worker-$i.log" 2>&1 &
  worker_pid[$i]=$!
  pids+=($!)
done
for i in 1 2 3; do
  within 30 "worker-$i to answer" answers "1306$i"
done
echo "== three workers in one fleet"
"$corebuild" capabilities --url http://127.0.0.1:13061 | grep -E '^(worker|cluster)'
within 30 "the fleet to list the Raspberry Pi class" lists_pi_class
"$corebuild" workers --url http://127.0.0.1:13061

for n in 1 2 3; do
  cat > "$scratch/job-$n.json" <<JSON
{
  "id": "fleet-$n", "architecture": "amd64", "imageKind": "ubuntu-iso",
  "cloudlyUrl": "https://cloudly.example.com", "provisioningToken": "fleet-demo-token",
  "s3Descriptor": { "endpoint": "127.0.0.1:$s3_port", "useSsl": false,
    "accessKey": "test", "accessSecret": "test-secret", "bucketName": "artifacts" }
}
JSON
  "$corebuild" submit "$scratch/job-$n.json" --url http://127.0.0.1:13061 > /dev/null
done
cat > "$scratch/job-pi.json" <<JSON
{
  "id": "fleet-pi", "architecture": "rpi", "imageKind": "balena-raw",
  "sourceImageUrl": "https://images.example.com/balena-rpi.img.xz",
  "cloudlyUrl": "https://cloudly.example.com", "provisioningToken": "fleet-demo-token",
  "s3Descriptor": { "endpoint": "127.0.0.1:$s3_port", "useSsl": false,
    "accessKey": "test", "accessSecret": "test-secret", "bucketName": "artifacts" }
}
JSON
"$corebuild" submit "$scratch/job-pi.json" --url http://127.0.0.1:13061 > /dev/null
within 60 "fleet-2 to run" in_state fleet-2 13063 running
echo
echo "== all submitted to worker-1, listed by worker-3"
"$corebuild" jobs --url http://127.0.0.1:13063

# The worker running fleet-2, from its status.
victim=$("$corebuild" status fleet-2 --json --url http://127.0.0.1:13061 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["workerId"])')
echo
echo "== kill -9 $victim, which runs fleet-2"
kill -9 "${worker_pid[${victim#worker-}]}"

survivor=13063
for n in 1 2 3 pi; do
  within 180 "fleet-$n to finish" in_state "fleet-$n" "$survivor" succeeded failed cancelled
done
echo
echo "== every job finished, each on a worker that builds it; fleet-2 ran again elsewhere as attempt 2"
"$corebuild" jobs --url "http://127.0.0.1:$survivor"
echo
"$corebuild" status fleet-2 --url "http://127.0.0.1:$survivor"
