"""evchargectl, the command line client of the evcharge services (`evchargectl <noun> <verb>`).

main.py parses and dispatches, commands.py makes the calls, format.py renders text, snapshot.py
gathers `status`, monitor.py follows events, client.py owns the bus connection and exit codes.
"""
