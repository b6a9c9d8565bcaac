"""Llama-3.1-8B-Instruct summarising CNN/DailyMail (MLPerf `llama3.1-8b`, `llama3.1-8b-edge`)."""
