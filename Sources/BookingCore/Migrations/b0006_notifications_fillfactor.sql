-- Room on each page of the notifications table for the row's next version. A notification is
-- updated after it is written (the sending mark, then sent, delivered or read), and a full page
-- makes even an update that changes no indexed column (the sending mark) a new row version on
-- another page with an entry in every index: in a `bench-email` run 73 % of the notifications'
-- updates were such, with the default fill of 100 %. Pages written from now on keep 30 % free;
-- existing pages are left as they are (rewriting the table would lock it).
ALTER TABLE evently.notifications SET (fillfactor = 70);
