"""The streamer: it streams each finished frame's object records to the journal and on
to the EcoTaxa archive. So it is the storage: the per-frame journal, the output contracts,
the archive assembled from the journal, and the layout of an acquisition's outputs on disk.

files.py    the one atomic writer (temporary name, fsync, rename) and its helpers
journal.py  one JSONL line per committed frame (write, fsync, rename); resume
ecotaxa.py  the EcoTaxa TSV and zip, with the checks EcoTaxa makes
layout.py   where an acquisition's outputs go (objects/, export/, clean/, done.txt),
            and the lock that lets one process at a time work on it
owned.py    the record of the files a run wrote beside its journal (only those are
            replaced or removed; another's file under our name is ForeignFile)
outputs.py  the TSV and zip from the journal, and the sweep of a killed run's temporaries
contract.py the output contracts: the object columns, units and names of each
report/     the quick-look report: size spectrum (NBSS), mosaic, summary
errors.py   StorageError, EcoTaxaError, AcquisitionBusy and ForeignFile

It imports nothing of `segmenter`; of `worker`, only its records and errors.
"""
