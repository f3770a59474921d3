"""Health, in one home: the check runner, the checks by concern, the two reports, their views."""
