# (rules for this part go here)
