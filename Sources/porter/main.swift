print("porter")
