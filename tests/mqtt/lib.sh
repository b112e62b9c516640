# SPDX-License-Identifier: MIT
# lib.sh - sourced by the mqtt shell tests: skip (one line, exit 77) when
# mosquitto or the optional part is missing; start a broker of the test's
# own on 127.0.0.1 and a free port, persistence in $out, stopped by pid.
# Needs $cli, $out and the pids array of the sourcing test.

mqtt_need() {
	mosquitto=$(PATH=$PATH:/usr/sbin:/usr/local/sbin command -v mosquitto)
	[ -n "$mosquitto" ] || {
		echo "SKIP: no mosquitto broker (apt-get install mosquitto)"
		exit 77
	}
	local why
	why=$("$cli" --help | sed -n 's/^  mqtt .*(not here: \(.*\))$/\1/p')
	[ -z "$why" ] || { echo "SKIP: $why"; exit 77; }
	for p in mosquitto_pub mosquitto_sub; do
		command -v $p >/dev/null || {
			echo "SKIP: no $p (apt-get install mosquitto-clients)"
			exit 77
		}
	done
}

# A TCP port nobody listens on now (above the kernel's ephemeral range's
# usual start, so a client's own port is unlikely to take it meanwhile).
free_port() {
	local p
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
	done
	echo $p
}

# broker_start: write the config once, start mosquitto, wait until it
# listens; its pid in $broker.
broker_start() {
	if [ -z "${port:-}" ]; then
		port=$(free_port)
		# Listener settings follow their listener line: extra_conf may
		# add listeners with settings of their own.
		cat >"$out/mosquitto.conf" <<CONF
per_listener_settings true
persistence true
persistence_location $out/
max_queued_messages 0
max_inflight_messages 0
user $(id -un)
listener $port 127.0.0.1
allow_anonymous true
${extra_conf:-}
CONF
	fi
	"$mosquitto" -c "$out/mosquitto.conf" >>"$out/broker.err" 2>&1 &
	broker=$!
	pids+=("$broker")
	until_ok 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" ||
		fail "mosquitto did not listen on $port"
	for p in ${tls_port:-} ${auth_port:-}; do
		until_ok 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" ||
			fail "mosquitto did not listen on $p"
	done
}

broker_stop() {
	kill -"${1:-TERM}" "$broker" 2>/dev/null
	wait "$broker" 2>/dev/null
}
