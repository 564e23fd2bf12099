-- A failed or canceled job put back in the queue by hand keeps its attempt
-- number (the fencing token keeps growing) and gets a fresh budget of
-- attempts: the attempts it had used before are remembered here.
ALTER TABLE jobs ADD COLUMN attempts_before integer NOT NULL DEFAULT 0;
