"""Where cells run: ``local`` (one worker process at a time on this machine) or ``ray`` (the
nodes of a Ray cluster). Both call ``process.run_here`` where the cell runs and hand its
attempt to one ``sink.Sink``, the only place a record is made and stored."""
