"""The blinded real-vs-synthetic reader study ("visual Turing test"): the folder readers open (``study``),
their answer files (``answers``), and the scores that become trust factor T6 (``scoring``)."""
