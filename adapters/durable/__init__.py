"""durable: the journal the daemon's state is rebuilt from after a restart or a crash"""
