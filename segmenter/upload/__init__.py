"""EcoTaxa upload and import from the instrument (`segmenter upload`, the service's
`upload` command).

api.py      EcoTaxa's API: login, user files, import, jobs, samples (httpx, the [upload] extra)
book.py     each acquisition's upload state, kept in the data root (survives a restart)
run.py      one acquisition: look up, upload, import, follow the job; waits out outages
targets.py  which archives a PATH names
"""
