"""The DPO's office beyond requests: the breach register with its 72-hour
clock (Art. 33, 34), the record of processing (Art. 30), the impact
assessment (Art. 35) and the inspection export (Art. 58(1)), each generated
from the running system."""
