"""Fakes of Timebok's storage seam (chalicelib/storage/repository.py says where the seam is)."""
