"""The MQTT service (SPEC section 4): parse commands, queue them, run them, report.

commands.py  payload -> Command (one ConfigError naming the field)
status.py    the legacy status strings and the JSON messages, reserved-word checks
legacy.py    the legacy stream: one terminal status per `segment` command, stop repeats
queue.py     the server-side queue, kept in <data root>/.segmenter/queue.json
runner.py    one queue item through the engine, acquisition by acquisition
progress.py  engine Progress events -> progress statuses, per-object messages
handlers.py  what each command does (the command thread)
service.py   the orchestrator: inbox -> command thread, one worker thread, statuses out
actor.py     the command thread: arrivals in order, the queue saved and replies sent per batch
inbox.py     the inbox between paho's network thread (never waits) and the command thread
outbox.py    the one publisher thread (QoS 1 never dropped)
mqtt.py      the paho-mqtt 2 transport (reconnects, Last Will, TLS, credentials, acks)
broker_errors.py  a failed connection said once with its fix
sdnotify.py  systemd READY/STOPPING/WATCHDOG notifications, the progress heartbeat
"""
