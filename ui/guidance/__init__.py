"""The Guidance lab: conditioning and classifier-free guidance on labelled toy data, learned beside exact."""
