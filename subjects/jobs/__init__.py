"""What the workers do: search a selfie, carry out approved requests
(access package, erasure), deliver e-mail, purge what is kept no longer,
alert the DPO before deadlines."""
