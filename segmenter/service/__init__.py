"""The MQTT service (SPEC section 4): parse commands, queue them, run them, report.

commands.py  payload -> Command (one ConfigError naming the field)
status.py    the legacy status strings and the JSON messages, reserved-word checks
queue.py     the server-side queue, kept in <data root>/.segmenter/queue.json
runner.py    one queue item through the engine, acquisition by acquisition
progress.py  engine Progress events -> progress statuses, per-object messages
service.py   the orchestrator: commands in, one worker thread, statuses out
mqtt.py      the paho-mqtt 2 transport (reconnects, Last Will, TLS, credentials)
client.py    the command-line client behind `segmenter send`
sdnotify.py  systemd READY/STOPPING/WATCHDOG notifications
"""
