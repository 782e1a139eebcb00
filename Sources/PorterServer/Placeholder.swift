import Porter
