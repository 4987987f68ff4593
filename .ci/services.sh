#!/usr/bin/env bash
# Install (if missing) and start PostgreSQL, Redis and Chromium (and GStreamer) for the test suite.
# Idempotent: safe to run again on a machine where they already run.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
# The browser tests run the headless-only build (tests/portal_testing.py: CHROMIUM).
command -v chromium-headless-shell >/dev/null || need+=(chromium-headless-shell)
# Node.js runs the OpenID provider (oidc-provider from npm) of the sso_oidc tests.
command -v npm >/dev/null || need+=(nodejs npm)
# ffprobe checks the SFU lesson recordings (one video + one audio stream, the right length).
command -v ffprobe >/dev/null || need+=(ffmpeg)
# GStreamer's webrtcbin as a WHIP/WHEP peer of the SFU tests (VP8: -good, H.264: -ugly x264enc, -libav).
for pkg in gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
           gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice python3-gi \
           gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
  pg_createcluster "$version" main >/dev/null
fi
cluster=$(pg_lsclusters -h | head -1 | awk '{print $1" "$2}')
if ! pg_lsclusters -h | head -1 | grep -q online; then
  pg_ctlcluster $cluster start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 0.5
done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='portal'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"create role portal login superuser password 'portal'\""
# make test's four workers hold their pooled connections plus those of the portals, Celery
# workers and realtime servers a test starts (25 seen for one worker at its peak, 84 in all
# with a benchmark beside the suite): the default 100 leaves too little room. Raised once.
if [ "$(su postgres -c "psql -qtAc 'show max_connections'")" -lt 200 ]; then
  su postgres -c "psql -qc 'alter system set max_connections = 200'" >/dev/null
  pg_ctlcluster $cluster restart
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 && break
    sleep 0.5
  done
fi

if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
fi
for _ in $(seq 1 30); do
  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 0.2
done
echo "services up: PostgreSQL $version on 127.0.0.1:5432 (role portal), Redis on 127.0.0.1:6379, $(chromium-headless-shell --version 2>/dev/null || chromium --version 2>/dev/null || echo 'no chromium')"
