"""The transactional platform database."""
