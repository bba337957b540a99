"""What an analysis is shown as: the report and its figures."""
