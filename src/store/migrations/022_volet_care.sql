-- The care a medical volet is written for (its `prise-en-charge` answer):
-- a request is sent for the care its medical volet describes.
ALTER TABLE volet ADD COLUMN care_wanted text;
