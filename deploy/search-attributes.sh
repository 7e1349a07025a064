#!/bin/sh
# Registers WMS2's custom search attributes; an attribute that exists already is fine.
set -u
for attr in WMS2Status=Keyword WMS2Campaign=Keyword WMS2Priority=Int WMS2RequestType=Keyword WMS2Stuck=Bool; do
  temporal operator search-attribute create --address temporal:7233 --namespace default \
    --name "${attr%%=*}" --type "${attr#*=}" || echo "search attribute ${attr%%=*} already present"
done
