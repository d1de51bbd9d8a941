"""Several daemons, one owner of the routing at a time (issue 18)."""
