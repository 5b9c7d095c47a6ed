"""Cases: what staff record about applications, and what an applicant may see after verifying."""
