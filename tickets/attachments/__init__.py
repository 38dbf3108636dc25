"""Files on tickets and messages: what a file is (``detection``), what it may be called
(``names``), the limits and checks before anything is stored (``uploads``), the department's
storage (``storage``), storing with the transaction that records them (``batch``), reading
them (``selectors``) and finding objects and rows that lost each other (``audit``).
"""
