"""The MQTT service (SPEC section 4): parse commands, queue them, run them, report.

service.py        the service: its threads, the transport's callbacks, the queue published
actor.py          the command thread: arrivals in order, queue saved, replies sent per batch
handlers.py       what each command does (the command thread)
worker_thread.py  the worker thread: live acquisitions first, then queue items
job.py            one run of the engine, and the stops and live acquisitions that end it
runner.py         one queue item, acquisition by acquisition
follower.py       following the imager: its events -> live acquisitions (live.json)
live_status.py    a live acquisition's state on status/segmenter/live
commands.py       payload -> Command (one ConfigError naming the field)
values.py         a command's field values: settings (segmenter/rules.py), ids, paths
queue.py          the server-side queue, kept in <data root>/.segmenter/queue.json
dashboard_stream.py  status/segmenter: one terminal status per `segment` command, stop repeats
status.py         the dashboard's status strings and the JSON messages, reserved-word checks
progress.py       engine Progress events -> progress statuses, per-object messages
summary.py        an acquisition's report figures on the summary topic
uploads.py        EcoTaxa uploads after each acquisition, or asked for
inbox.py          the inbox between paho's network thread (never waits) and the command thread
outbox.py         the one publisher thread (QoS 1 never dropped)
mqtt.py           the paho-mqtt 2 transport (reconnects, Last Will, TLS, credentials, acks)
broker.py         where the broker is and how to log in (--broker, the environment)
broker_errors.py  a failed connection said once with its fix
sdnotify.py       systemd READY/STOPPING/WATCHDOG notifications, the progress heartbeat
"""
