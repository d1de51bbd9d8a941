"""Reports: what the contact centre did, on record (issue 19)."""
