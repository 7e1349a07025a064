#!/bin/sh
# One-shot set-up of the Temporal server for WMS2: the namespace, then WMS2's search
# attributes. "Already exists" (a restart, a second `compose up`) is fine; any other
# failure fails this service, and with it the worker's start (it depends on success).
set -eu
addr="${TEMPORAL_ADDRESS:-temporal:7233}"
ns="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_RETENTION:-30d}"

create() {
  if out=$("$@" 2>&1); then
    echo "$out"
    return 0
  fi
  case "$out" in
    *"already exists"* | *"already registered"* | *"AlreadyExists"*)
      echo "already present: $*"
      return 0
      ;;
  esac
  echo "FAILED: $*" >&2
  echo "$out" >&2
  return 1
}

create temporal operator namespace create --address "$addr" --namespace "$ns" \
  --retention "$retention"
# A new namespace answers once the server's namespace cache refreshed (seconds).
tries=0
until temporal operator namespace describe --address "$addr" --namespace "$ns" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "FAILED: namespace $ns does not answer at $addr" >&2
    exit 1
  fi
  sleep 2
done
for attr in WMS2Status=Keyword WMS2Campaign=Keyword WMS2Priority=Int WMS2RequestType=Keyword WMS2Stuck=Bool; do
  create temporal operator search-attribute create --address "$addr" --namespace "$ns" \
    --name "${attr%%=*}" --type "${attr#*=}"
done
echo "namespace $ns and WMS2's search attributes are ready at $addr"
