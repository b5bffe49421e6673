import Queue
